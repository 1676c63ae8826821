import sys, glob, numpy as np
sys.path.insert(0,__import__('os').path.dirname(__file__))
from fits import read
from scipy import ndimage as nd
fs=sorted(glob.glob(''+__import__('os').environ.get('M94','../shared/data/seestar-m94-s3')+'/*.fit'))
a,h=read(fs[6])
for name,P in (("G",(a[0::2,0::2]+a[1::2,1::2])/2),("R",a[0::2,1::2]),("B",a[1::2,0::2])):
    bg=nd.median_filter(P[::4,::4],size=9); P=P-np.kron(bg,np.ones((4,4)))[:P.shape[0],:P.shape[1]]
    mx=nd.maximum_filter(P,size=7)
    pk=[(y,x) for y,x in np.argwhere((P==mx)&(P>800)&(P<30000)) if 10<=y<P.shape[0]-10 and 10<=x<P.shape[1]-10]
    out=[]
    for y,x in pk:
        st=np.clip(P[y-5:y+6,x-5:x+6],0,None)
        yy,xx=np.mgrid[-5:6,-5:6]; s=st.sum(); mx_=(st*xx).sum()/s; my=(st*yy).sum()/s
        out.append((x*2,y*2,P[y,x],np.sqrt(((st*(xx-mx_)**2).sum())/((st*(yy-my)**2).sum()))))
    out.sort(key=lambda t:-t[2])
    print(name, " ".join("(%d,%d %.0f: %.2f)"%t for t in out[:14]))
