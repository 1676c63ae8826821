import sys, glob, numpy as np
sys.path.insert(0,__import__('os').path.dirname(__file__))
from fits import read
from scipy import ndimage as nd
fs=sorted(glob.glob(''+__import__('os').environ.get('M94','../shared/data/seestar-m94-s3')+'/*.fit'))
for f in fs[::3]:
    a,h=read(f)
    G=(a[0::2,0::2]+a[1::2,1::2])/2
    bg=nd.median_filter(G[::4,::4],size=9); G=G-np.kron(bg,np.ones((4,4)))[:G.shape[0],:G.shape[1]]
    mx=nd.maximum_filter(G,size=7)
    pk=[(y,x) for y,x in np.argwhere((G==mx)&(G>3000)&(G<30000)) if 10<=y<G.shape[0]-10 and 10<=x<G.shape[1]-10]
    rs=[]
    for y,x in pk:
        st=np.clip(G[y-5:y+6,x-5:x+6],0,None)
        yy,xx=np.mgrid[-5:6,-5:6]; s=st.sum(); mx_=(st*xx).sum()/s; my=(st*yy).sum()/s
        rs.append(np.sqrt(((st*(xx-mx_)**2).sum())/((st*(yy-my)**2).sum())))
    print(f.split('_')[-1], len(pk),"stars, median x/y sigma ratio %.3f"%np.median(rs))
